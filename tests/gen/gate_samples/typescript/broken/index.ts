export interface Order {
  id: number;
  quantity: number;
}

export function total(orders: Order[]): number {
  // deliberately broken under --strict: `quantity` is a number, and `o` may be undefined
  const first = orders.find((o) => o.id === 1);
  const label: number = first.quantity.toFixed(2);
  return label;
}
