import { describe } from '../internal/validate.js';

/** Environment variables are read in one place, and a bad value is an error that names the variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export type Environment = Readonly<Record<string, string | undefined>>;

/** One of `allowed` (case-insensitive, trimmed), `fallback` when unset or empty. */
export function readChoice<T extends string>(
  env: Environment,
  name: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  const match = allowed.find((value) => value === raw);
  if (match === undefined) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}; got ${describe(env[name])}`);
  }
  return match;
}

/** A non-empty string, or undefined when unset or empty. */
export function readString(env: Environment, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === '' ? undefined : raw;
}

/** A number in [min, max], `fallback` when unset or empty. */
export function readNumber(
  env: Environment,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a number from ${min} to ${max}; got ${describe(env[name])}`);
  }
  return value;
}

export const ENV_GPU_PROVIDER = 'OTEL_RESOURCE_TRACKER_GPU_PROVIDER';
export const ENV_NVML_LIBRARY = 'OTEL_RESOURCE_TRACKER_NVML_LIBRARY';
export const ENV_NVIDIA_SMI_TIMEOUT_MS = 'OTEL_RESOURCE_TRACKER_NVIDIA_SMI_TIMEOUT_MS';
export const ENV_GPU_SAMPLE_INTERVAL_MS = 'OTEL_RESOURCE_TRACKER_GPU_SAMPLE_INTERVAL_MS';
export const ENV_GPU_ACTIVE_SAMPLE_INTERVAL_MS = 'OTEL_RESOURCE_TRACKER_GPU_ACTIVE_SAMPLE_INTERVAL_MS';
