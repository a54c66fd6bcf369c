import type { NewPet, Pet } from "./models";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`HTTP ${status}`);
  }
}

export interface ClientOptions {
  baseUrl: string;
  fetch?: typeof globalThis.fetch;
  headers?: Record<string, string>;
}

export class PetsClient {
  private readonly fetchImpl: typeof globalThis.fetch;

  constructor(private readonly options: ClientOptions) {
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  private async request<T>(method: string, path: string, body?: unknown, query?: URLSearchParams): Promise<T> {
    const url = new URL(path, this.options.baseUrl);
    if (query) url.search = query.toString();
    const init: RequestInit = { method, headers: { accept: "application/json", ...this.options.headers } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { ...init.headers, "content-type": "application/json" };
    }
    const response = await this.fetchImpl(url, init);
    const data: unknown = response.status === 204 ? undefined : await response.json();
    if (!response.ok) throw new ApiError(response.status, data);
    return data as T;
  }

  async listPets(params: { limit?: number } = {}): Promise<Pet[]> {
    const query = new URLSearchParams();
    if (params.limit !== undefined) query.set("limit", String(params.limit));
    return this.request<Pet[]>("GET", "/pets", undefined, query);
  }

  async createPet(body: NewPet): Promise<Pet> {
    return this.request<Pet>("POST", "/pets", body);
  }
}
