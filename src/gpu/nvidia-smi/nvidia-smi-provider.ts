import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { replaceUnprintable } from '../../internal/printable.js';
import { type HelperResult, HelperShell } from '../helper-shell.js';
import {
  type GpuDevice,
  type GpuDeviceSample,
  GpuError,
  type GpuProvider,
  type GpuSample,
} from '../provider.js';
import {
  APPS_QUERY_ARGS,
  GPU_QUERY_ARGS,
  type GpuRow,
  parseAppsQuery,
  parseGpuQuery,
} from './nvidia-smi-output.js';

function deviceOf(row: GpuRow): GpuDevice {
  return {
    index: row.index,
    uuid: row.uuid,
    name: row.name,
    memoryTotalBytes: row.totalBytes,
    driverVersion: row.driverVersion,
  };
}

export const DEFAULT_NVIDIA_SMI_TIMEOUT_MS = 2000;
const MAX_BACKOFF_MS = 60_000;
const MAX_OUTPUT_BYTES = 1024 * 1024;

/** The nvidia-smi on PATH, found without spawning anything; undefined when there is none. */
export function findOnPath(command: string, path = process.env.PATH ?? ''): string | undefined {
  for (const directory of path.split(delimiter)) {
    if (directory === '') continue;
    const candidate = join(directory, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * GPUs through `nvidia-smi`, for machines where NVML cannot be loaded. Every run is asynchronous (through the
 * helper shell, fixed arguments, never expanded) with a timeout that kills it; there is never more than one run at a time (a sample
 * asked for while one runs shares it); after a failure, runs back off (doubling up to a minute) and the last
 * error is returned meanwhile, so that a hung or broken nvidia-smi is not hammered.
 */
export class NvidiaSmiProvider implements GpuProvider {
  readonly name = 'nvidia-smi';
  private readonly binary: string | undefined;
  private devices: GpuDevice[] = [];
  private inFlight: Promise<GpuSample> | undefined;
  private failures = 0;
  private retryAt = 0;
  private lastError: GpuError | undefined;
  private helper: HelperShell | undefined;

  constructor(
    private readonly timeoutMs = DEFAULT_NVIDIA_SMI_TIMEOUT_MS,
    binary: string | undefined = findOnPath('nvidia-smi'),
    /** First backoff after a failure; it doubles with each failure in a row, up to a minute. */
    private readonly backoffBaseMs = 1000,
  ) {
    this.binary = binary;
  }

  async start(): Promise<readonly GpuDevice[]> {
    if (this.binary === undefined)
      throw new GpuError('nvidia-smi was not found on PATH', 'nvidia-smi-missing');
    const { rows } = parseGpuQuery(await this.run(GPU_QUERY_ARGS));
    this.devices = rows.map(deviceOf);
    return this.devices;
  }

  sample(): Promise<GpuSample> {
    if (this.inFlight !== undefined) return this.inFlight;
    if (this.lastError !== undefined && Date.now() < this.retryAt) return Promise.reject(this.lastError);
    this.inFlight = this.query().then(
      (sample) => {
        this.failures = 0;
        this.lastError = undefined;
        this.inFlight = undefined;
        return sample;
      },
      (error: unknown) => {
        this.failures++;
        this.retryAt = Date.now() + Math.min(MAX_BACKOFF_MS, this.backoffBaseMs * 2 ** (this.failures - 1));
        this.lastError =
          error instanceof GpuError
            ? error
            : new GpuError(`nvidia-smi failed: ${String(error)}`, 'nvidia-smi-failed');
        this.inFlight = undefined;
        throw this.lastError;
      },
    );
    return this.inFlight;
  }

  shutdown(): void {
    this.helper?.close();
    this.helper = undefined;
  }

  private async query(): Promise<GpuSample> {
    const [gpus, apps] = await Promise.all([
      this.run(GPU_QUERY_ARGS),
      // The process list only feeds per-process memory: when it fails or is garbled, that figure is unavailable
      // and the device readings still stand.
      this.run(APPS_QUERY_ARGS)
        .then((output) => parseAppsQuery(output))
        .catch(() => undefined),
    ]);
    const { rows, skipped } = parseGpuQuery(gpus);
    const devices: GpuDeviceSample[] = rows.map((row) => ({
      device: this.deviceFor(row),
      usedBytes: row.usedBytes,
      freeBytes: row.freeBytes,
      totalBytes: row.totalBytes,
      utilization: row.utilization,
      processes: apps === undefined ? undefined : (apps.get(row.uuid) ?? []),
    }));
    const failures = skipped.map((row) => ({
      device: this.devices.find((device) => device.uuid === row.uuid) ?? {
        index: row.index,
        uuid: row.uuid,
        name: '',
        memoryTotalBytes: 0,
      },
      error: new GpuError(
        `nvidia-smi does not know GPU ${row.index}'s ${row.reason}`,
        'nvidia-smi-not-available',
      ),
    }));
    return { devices, failures };
  }

  private deviceFor(row: GpuRow): GpuDevice {
    const known = this.devices.find((device) => device.uuid === row.uuid);
    if (known !== undefined) return known;
    const device = deviceOf(row);
    this.devices.push(device);
    return device;
  }

  /**
   * One nvidia-smi run, through the helper shell: it is not this process's child, so its CPU is never charged to
   * the application's children (RUSAGE_CHILDREN, `resource_tracker.children.cpu.time`, the `run` tree's CPU).
   */
  private async run(args: string[]): Promise<string> {
    const binary = this.binary;
    if (binary === undefined) throw new GpuError('nvidia-smi was not found on PATH', 'nvidia-smi-missing');
    this.helper ??= new HelperShell();
    let result: HelperResult;
    try {
      result = await this.helper.run([binary, ...args], this.timeoutMs, MAX_OUTPUT_BYTES);
    } catch (error) {
      this.helper.close();
      this.helper = undefined;
      throw new GpuError(`nvidia-smi could not be run: ${(error as Error).message}`, 'nvidia-smi-failed');
    }
    if (result.timedOut) {
      throw new GpuError(
        `nvidia-smi did not answer within ${this.timeoutMs} ms and was killed`,
        'nvidia-smi-timeout',
      );
    }
    if (result.code !== 0 || result.truncated) {
      const how = result.truncated
        ? `printed more than ${MAX_OUTPUT_BYTES} bytes`
        : `failed (${result.code ?? result.signal})`;
      const stderr = replaceUnprintable(result.stderr.trim()).slice(0, 200);
      throw new GpuError(
        `nvidia-smi ${args[0]} ${how}${stderr === '' ? '' : `: ${stderr}`}`,
        'nvidia-smi-failed',
      );
    }
    return result.stdout;
  }
}
