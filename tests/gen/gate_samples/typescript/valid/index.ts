export * from "./models";
export * from "./client";
