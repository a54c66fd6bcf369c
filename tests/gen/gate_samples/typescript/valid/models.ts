export type PetStatus = "available" | "sold";

export interface Pet {
  id: number;
  name: string;
  tag?: string | null;
  status: PetStatus;
}

export interface NewPet {
  name: string;
  tag?: string;
}
