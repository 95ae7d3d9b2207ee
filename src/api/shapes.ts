// The JSON types of request bodies, checked before anything is done with them, as Docker's Go
// decoder checks them: a value of the wrong type is a 400 with the decoder's own wording
// ("json: cannot unmarshal string into Go struct field CreateRequest.HostConfig of type
// container.HostConfig"), never a container made from half a body. null is accepted anywhere, as
// Go accepts it; fields not listed are not checked (Go ignores unknown ones).
import { invalid } from '../lib/errors';

type Scalar = 'string' | 'bool' | 'int' | 'int64' | 'uint16' | 'uint64' | 'float64';
export type Shape =
  | Scalar
  /** Docker's StrSlice: a string or a list of strings. */
  | 'strslice'
  /** Anything (interface{}, json.RawMessage). */
  | 'any'
  | { list: Shape }
  | { map: Shape }
  | { struct: string; fields: Record<string, Shape> };

const GO_NAMES: Record<Scalar | 'strslice' | 'any', string> = {
  string: 'string', bool: 'bool', int: 'int', int64: 'int64', uint16: 'uint16', uint64: 'uint64', float64: 'float64',
  strslice: 'strslice.StrSlice', any: 'interface {}',
};

function goName(s: Shape): string {
  if (typeof s === 'string') return GO_NAMES[s];
  if ('list' in s) return '[]' + goName(s.list);
  if ('map' in s) return 'map[string]' + goName(s.map);
  return s.struct;
}

function jsonKind(v: unknown): string {
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'number' : `number ${v}`;
  if (typeof v === 'string') return 'string';
  return Array.isArray(v) ? 'array' : 'object';
}

const RANGES: Partial<Record<Scalar, [number, number]>> = { uint16: [0, 65535], uint64: [0, Number.MAX_SAFE_INTEGER], int: [-(2 ** 63), 2 ** 63], int64: [-(2 ** 63), 2 ** 63] };

function fits(v: unknown, s: Shape): boolean {
  switch (s) {
    case 'any': return true;
    case 'string': return typeof v === 'string';
    case 'bool': return typeof v === 'boolean';
    case 'float64': return typeof v === 'number';
    case 'strslice': return typeof v === 'string' || (Array.isArray(v) && v.every((x) => x === null || typeof x === 'string'));
    case 'int': case 'int64': case 'uint16': case 'uint64': {
      const [lo, hi] = RANGES[s]!;
      return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
    }
    default:
      if ('list' in s) return Array.isArray(v);
      return typeof v === 'object' && !Array.isArray(v);
  }
}

/**
 * Throws Docker's 400 when `v` does not decode as `shape`. `struct` and `field` are where the
 * decoder stands: the innermost struct's name and the field's path from the top.
 */
export function checkShape(v: unknown, shape: Shape, struct = '', field = ''): void {
  if (v === null || v === undefined) return;
  if (!fits(v, shape)) {
    const where = struct ? `Go struct field ${struct}.${field}` : 'Go value';
    throw invalid(`json: cannot unmarshal ${jsonKind(v)} into ${where} of type ${goName(shape)}`);
  }
  if (typeof shape === 'string') return;
  if ('list' in shape) { for (const x of v as unknown[]) checkShape(x, shape.list, struct, field); return; }
  if ('map' in shape) { for (const x of Object.values(v as object)) checkShape(x, shape.map, struct, field); return; }
  const name = shape.struct.replace(/^.*\./, '');
  for (const [k, sub] of Object.entries(shape.fields)) {
    if (k in (v as object)) checkShape((v as Record<string, unknown>)[k], sub, name, field ? `${field}.${k}` : k);
  }
}

const strings = { list: 'string' } as const;
const stringMap = { map: 'string' } as const;
const emptyStruct = { map: 'any' } as const;
const throttle = { list: { struct: 'blkiodev.ThrottleDevice', fields: { Path: 'string', Rate: 'uint64' } } } as const;

const healthConfig: Shape = {
  struct: 'container.HealthConfig',
  fields: { Test: strings, Interval: 'int64', Timeout: 'int64', StartPeriod: 'int64', StartInterval: 'int64', Retries: 'int' },
};

/** The container's Config (the top level of a create body, and a commit body). */
export const containerConfig: Shape = {
  struct: 'container.Config',
  fields: {
    Hostname: 'string', Domainname: 'string', User: 'string', AttachStdin: 'bool', AttachStdout: 'bool', AttachStderr: 'bool',
    ExposedPorts: { map: emptyStruct }, Tty: 'bool', OpenStdin: 'bool', StdinOnce: 'bool', Env: strings, Cmd: 'strslice',
    Healthcheck: healthConfig, ArgsEscaped: 'bool', Image: 'string', Volumes: { map: emptyStruct }, WorkingDir: 'string',
    Entrypoint: 'strslice', NetworkDisabled: 'bool', OnBuild: strings, Labels: stringMap, StopSignal: 'string',
    StopTimeout: 'int', Shell: 'strslice', MacAddress: 'string',
  },
};

const resources: Record<string, Shape> = {
  CpuShares: 'int64', Memory: 'int64', NanoCpus: 'int64', CgroupParent: 'string', BlkioWeight: 'uint16',
  BlkioWeightDevice: { list: { struct: 'blkiodev.WeightDevice', fields: { Path: 'string', Weight: 'uint16' } } },
  BlkioDeviceReadBps: throttle, BlkioDeviceWriteBps: throttle, BlkioDeviceReadIOps: throttle, BlkioDeviceWriteIOps: throttle,
  CpuPeriod: 'int64', CpuQuota: 'int64', CpuRealtimePeriod: 'int64', CpuRealtimeRuntime: 'int64', CpusetCpus: 'string', CpusetMems: 'string',
  Devices: { list: { struct: 'container.DeviceMapping', fields: { PathOnHost: 'string', PathInContainer: 'string', CgroupPermissions: 'string' } } },
  DeviceCgroupRules: strings, DeviceRequests: { list: 'any' }, KernelMemory: 'int64', KernelMemoryTCP: 'int64',
  MemoryReservation: 'int64', MemorySwap: 'int64', MemorySwappiness: 'int64', OomKillDisable: 'bool', PidsLimit: 'int64',
  Ulimits: { list: { struct: 'units.Ulimit', fields: { Name: 'string', Hard: 'int64', Soft: 'int64' } } },
  CpuCount: 'int64', CpuPercent: 'int64', IOMaximumIOps: 'uint64', IOMaximumBandwidth: 'uint64',
};

const restartPolicy: Shape = { struct: 'container.RestartPolicy', fields: { Name: 'string', MaximumRetryCount: 'int' } };

export const hostConfig: Shape = {
  struct: 'container.HostConfig',
  fields: {
    ...resources,
    Binds: strings, ContainerIDFile: 'string', LogConfig: { struct: 'container.LogConfig', fields: { Type: 'string', Config: stringMap } },
    NetworkMode: 'string', PortBindings: { map: { list: { struct: 'nat.PortBinding', fields: { HostIp: 'string', HostPort: 'string' } } } },
    RestartPolicy: restartPolicy, AutoRemove: 'bool', VolumeDriver: 'string', VolumesFrom: strings, ConsoleSize: { list: 'uint64' },
    Annotations: stringMap, CapAdd: 'strslice', CapDrop: 'strslice', CgroupnsMode: 'string', Dns: strings, DnsOptions: strings,
    DnsSearch: strings, ExtraHosts: strings, GroupAdd: strings, IpcMode: 'string', Cgroup: 'string', Links: strings,
    OomScoreAdj: 'int', PidMode: 'string', Privileged: 'bool', PublishAllPorts: 'bool', ReadonlyRootfs: 'bool',
    SecurityOpt: strings, StorageOpt: stringMap, Tmpfs: stringMap, UTSMode: 'string', UsernsMode: 'string', ShmSize: 'int64',
    Sysctls: stringMap, Runtime: 'string', Isolation: 'string', MaskedPaths: strings, ReadonlyPaths: strings, Init: 'bool',
    Mounts: {
      list: {
        struct: 'mount.Mount',
        fields: {
          Type: 'string', Source: 'string', Target: 'string', ReadOnly: 'bool', Consistency: 'string',
          BindOptions: { struct: 'mount.BindOptions', fields: { Propagation: 'string', NonRecursive: 'bool', CreateMountpoint: 'bool', ReadOnlyNonRecursive: 'bool', ReadOnlyForceRecursive: 'bool' } },
          VolumeOptions: { struct: 'mount.VolumeOptions', fields: { NoCopy: 'bool', Labels: stringMap, Subpath: 'string', DriverConfig: { struct: 'mount.Driver', fields: { Name: 'string', Options: stringMap } } } },
          TmpfsOptions: { struct: 'mount.TmpfsOptions', fields: { SizeBytes: 'int64', Mode: 'uint64', Options: { list: strings } } },
        },
      },
    },
  },
};

const endpointSettings: Shape = {
  struct: 'network.EndpointSettings',
  fields: {
    IPAMConfig: { struct: 'network.EndpointIPAMConfig', fields: { IPv4Address: 'string', IPv6Address: 'string', LinkLocalIPs: strings } },
    Links: strings, Aliases: strings, MacAddress: 'string', DriverOpts: stringMap, NetworkID: 'string', EndpointID: 'string',
    Gateway: 'string', IPAddress: 'string', IPPrefixLen: 'int', IPv6Gateway: 'string', GlobalIPv6Address: 'string',
    GlobalIPv6PrefixLen: 'int', DNSNames: strings, GwPriority: 'int',
  },
};

/** POST /containers/create: the Config's fields at the top, beside HostConfig and NetworkingConfig. */
export const createRequest: Shape = {
  struct: 'container.CreateRequest',
  fields: {
    ...(containerConfig as { fields: Record<string, Shape> }).fields,
    HostConfig: hostConfig,
    NetworkingConfig: { struct: 'network.NetworkingConfig', fields: { EndpointsConfig: { map: endpointSettings } } },
  },
};

/** POST /containers/{id}/update: the resources and the restart policy. */
export const updateConfig: Shape = { struct: 'container.UpdateConfig', fields: { ...resources, RestartPolicy: restartPolicy } };

/** The body must be one JSON object (or empty/null): the first check of every typed body. */
export function checkObject(v: unknown, shape: Shape): void {
  if (v !== null && v !== undefined && (typeof v !== 'object' || Array.isArray(v))) {
    throw invalid(`json: cannot unmarshal ${jsonKind(v)} into Go value of type ${goName(shape)}`);
  }
  checkShape(v, shape);
}
