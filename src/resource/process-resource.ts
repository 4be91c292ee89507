import { randomUUID } from 'node:crypto';

export type ResourcesModule = typeof import('@opentelemetry/resources');
export type SdkResource = import('@opentelemetry/resources').Resource;
export type ResourceDetector = import('@opentelemetry/resources').ResourceDetector;

export const ATTR_SERVICE_INSTANCE_ID = 'service.instance.id';

/**
 * One id for the life of this process, whichever part of the package builds a Resource, so that the traces and
 * the metrics of a process carry the same one — and the processes of one service (cluster workers, replicas on a
 * host) stay apart in the backend instead of overwriting each other's series.
 */
export const SERVICE_INSTANCE_ID = randomUUID();

/**
 * The Resource of this process: the SDK's defaults (telemetry.sdk.*, service.name), our service.instance.id, then
 * what the detectors find — the environment detector last among equals, so that OTEL_SERVICE_NAME and
 * OTEL_RESOURCE_ATTRIBUTES (a service.instance.id of the user's own included) override what we chose.
 */
export function processResource(
  resources: ResourcesModule,
  detectors: readonly ResourceDetector[],
): SdkResource {
  return resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ [ATTR_SERVICE_INSTANCE_ID]: SERVICE_INSTANCE_ID }))
    .merge(resources.detectResources({ detectors: [...detectors] }));
}
