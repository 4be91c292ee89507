import { ConfigError, ENV_RESOURCE_DETECTORS } from '../config/env.js';
import type { ResourceDetector, ResourcesModule } from '../resource/process-resource.js';
import {
  BASIC_RESOURCE_DETECTORS,
  type BasicResourceDetector,
  DEFAULT_RESOURCE_DETECTORS,
  type SdkConfig,
} from './sdk-config.js';
import type { SdkPackages } from './sdk-packages.js';

function basicDetectors(resources: ResourcesModule): Record<BasicResourceDetector, ResourceDetector> {
  return {
    env: resources.envDetector,
    host: resources.hostDetector,
    os: resources.osDetector,
    process: resources.processDetector,
    serviceinstance: resources.serviceInstanceIdDetector,
  };
}

/**
 * The detectors for the Resource of traces and metrics. OTEL_NODE_RESOURCE_DETECTORS, when set, means what it
 * means to upstream's register (whose own reading we use, container and cloud detectors included); unset, the
 * local ones of DEFAULT_RESOURCE_DETECTORS. Without the auto-instrumentations package only the detectors of
 * @opentelemetry/resources exist, and asking for another is refused by name.
 */
export function resourceDetectors(
  config: SdkConfig,
  packages: SdkPackages,
  resources: ResourcesModule,
): ResourceDetector[] {
  const basic = basicDetectors(resources);
  const asked = config.resourceDetectors;
  if (asked === undefined) return DEFAULT_RESOURCE_DETECTORS.map((name) => basic[name]);
  if (packages.autoInstrumentations !== undefined) {
    return packages.autoInstrumentations.getResourceDetectors() as ResourceDetector[];
  }
  if (asked.includes('none')) return [];
  const names = asked.includes('all') ? BASIC_RESOURCE_DETECTORS : asked;
  return names.map((name) => {
    const detector = (basic as Partial<Record<string, ResourceDetector>>)[name];
    if (detector === undefined) {
      throw new ConfigError(
        `${ENV_RESOURCE_DETECTORS} names "${name}", a detector that comes with ` +
          '@opentelemetry/auto-instrumentations-node, which is not installed',
      );
    }
    return detector;
  });
}
