// Same exported names as ../valid: folders are separate programs, so nothing clashes.
export interface Pet {
  id: string;
}

export async function health(fetchImpl: typeof fetch = fetch): Promise<{ ok: boolean }> {
  const response = await fetchImpl("/health");
  return (await response.json()) as { ok: boolean };
}
