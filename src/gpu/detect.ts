import {
  ConfigError,
  ENV_GPU_PROVIDER,
  ENV_NVIDIA_SMI_TIMEOUT_MS,
  ENV_NVML_LIBRARY,
  ENV_PROCFS_ROOT,
  ENV_SYSFS_ROOT,
  type Environment,
  readChoice,
  readInteger,
  readString,
} from '../config/env.js';
import { DEFAULT_PROCFS_ROOT, DEFAULT_SYSFS_ROOT, DrmProvider } from './drm/drm-provider.js';
import { NoGpuProvider } from './none-provider.js';
import { DEFAULT_NVIDIA_SMI_TIMEOUT_MS, NvidiaSmiProvider } from './nvidia-smi/nvidia-smi-provider.js';
import { DEFAULT_NVML_LIBRARY } from './nvml/nvml-library.js';
import { NvmlProvider } from './nvml/nvml-provider.js';
import { type GpuDevice, GpuError, type GpuProvider } from './provider.js';

export const GPU_PROVIDER_CHOICES = ['auto', 'nvml', 'nvidia-smi', 'drm', 'none'] as const;
export type GpuProviderChoice = (typeof GPU_PROVIDER_CHOICES)[number];

export interface GpuProviderConfig {
  provider: GpuProviderChoice;
  nvmlLibrary: string;
  nvidiaSmiTimeoutMs: number;
  /** Where procfs and sysfs are, for the DRM provider; default /proc and /sys. */
  procfsRoot?: string;
  sysfsRoot?: string;
}

export function gpuProviderConfigFromEnv(env: Environment = process.env): GpuProviderConfig {
  return {
    provider: readChoice(env, ENV_GPU_PROVIDER, GPU_PROVIDER_CHOICES, 'auto'),
    nvmlLibrary: readString(env, ENV_NVML_LIBRARY) ?? DEFAULT_NVML_LIBRARY,
    nvidiaSmiTimeoutMs: readInteger(
      env,
      ENV_NVIDIA_SMI_TIMEOUT_MS,
      100,
      60_000,
      DEFAULT_NVIDIA_SMI_TIMEOUT_MS,
    ),
    procfsRoot: readString(env, ENV_PROCFS_ROOT) ?? DEFAULT_PROCFS_ROOT,
    sysfsRoot: readString(env, ENV_SYSFS_ROOT) ?? DEFAULT_SYSFS_ROOT,
  };
}

export interface StartedProvider {
  provider: GpuProvider;
  devices: readonly GpuDevice[];
  /** Why the providers tried before this one could not be used (auto detection). */
  passedOver: readonly GpuError[];
}

function create(choice: Exclude<GpuProviderChoice, 'auto'>, config: GpuProviderConfig): GpuProvider {
  switch (choice) {
    case 'nvml':
      return new NvmlProvider(config.nvmlLibrary);
    case 'nvidia-smi':
      return new NvidiaSmiProvider(config.nvidiaSmiTimeoutMs);
    case 'drm':
      return new DrmProvider(config.procfsRoot, config.sysfsRoot);
    case 'none':
      return new NoGpuProvider();
  }
}

/**
 * `auto`: NVML, then nvidia-smi, then DRM (AMD, Intel), then none. A provider named explicitly either starts or
 * rejects with a clear error: it never falls back silently to another one.
 */
export async function startGpuProvider(config: GpuProviderConfig): Promise<StartedProvider> {
  if (config.provider !== 'auto') {
    const provider = create(config.provider, config);
    try {
      return { provider, devices: await provider.start(), passedOver: [] };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ConfigError(
        `${ENV_GPU_PROVIDER}=${config.provider}, but that provider cannot start: ${reason}`,
      );
    }
  }
  const passedOver: GpuError[] = [];
  for (const choice of ['nvml', 'nvidia-smi', 'drm'] as const) {
    const provider = create(choice, config);
    try {
      return { provider, devices: await provider.start(), passedOver };
    } catch (error) {
      provider.shutdown();
      passedOver.push(error instanceof GpuError ? error : new GpuError(String(error), `${choice}-failed`));
    }
  }
  const none = new NoGpuProvider();
  return { provider: none, devices: await none.start(), passedOver };
}
