// Validation against the Compose Specification's JSON schema (compose-spec.json, beside this file)
// with ajv. Compiling that schema takes ajv ~130 ms, more than a whole no-op `up` may take, so the
// build compiles it once into code (ajv's standalone output, the virtual module below, made by
// scripts/build.mjs) and dray compose only runs it; unit tests under tsx compile it here instead.
// Messages follow Docker Compose's: "services.web.ports.0 must be a string or number",
// "services.web additional properties 'foo' not allowed".
import * as path from 'node:path';

export interface SchemaError { instancePath: string; keyword: string; params: Record<string, any>; message?: string; schemaPath: string }
type ValidateFn = ((data: unknown) => boolean) & { errors?: SchemaError[] | null };

let validator: ValidateFn | undefined;

/** The ajv options; scripts/build.mjs compiles the bundle's validator with the same. */
export const AJV_OPTIONS = { strict: false, allErrors: false, inlineRefs: false, validateFormats: false };

function load(): ValidateFn {
  if (validator) return validator;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    validator = require('dray:compose-spec-validator') as ValidateFn;
    return validator;
  } catch { /* not a build: compile it now */ }
  const req = module.require.bind(module);
  const Ajv = req('ajv').default;
  const schema = { ...req(path.join(__dirname, 'compose-spec.json')) };
  delete schema.$schema;
  validator = new Ajv(AJV_OPTIONS).compile(schema) as ValidateFn;
  return validator;
}

const human = (t: string) => (t === 'object' ? 'mapping' : t);

function typeList(want: string | string[]): string {
  const w = (Array.isArray(want) ? want : [want]).map(human).sort();
  return w.length === 1 ? w[0] : `${w.slice(0, -1).join(', ')} or ${w[w.length - 1]}`;
}

/** ajv's "/services/web/ports/0" as Compose writes it: "services.web.ports.0". */
export const dottedPath = (p: string) => p.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).join('.');

function specificity(e: SchemaError): number {
  const depth = e.instancePath ? e.instancePath.split('/').length - 1 : 0;
  // A wrong key is more telling than the failed oneOf around it.
  return depth * 4 + (e.keyword === 'additionalProperties' ? 3 : e.keyword === 'type' || e.keyword === 'enum' ? 1 : e.keyword === 'oneOf' || e.keyword === 'anyOf' ? 0 : 2);
}

export function describe(e: SchemaError): string {
  const where = dottedPath(e.instancePath) || '(root)';
  switch (e.keyword) {
    case 'type': return `${where} must be a ${typeList(e.params.type)}`;
    case 'additionalProperties': return `${where} additional properties '${e.params.additionalProperty}' not allowed`;
    case 'required': return `${where} missing property '${e.params.missingProperty}'`;
    case 'enum': return `${where} must be one of ${(e.params.allowedValues as unknown[]).map((v) => `'${v}'`).join(', ')}`;
    case 'pattern': return `${where} does not match pattern '${e.params.pattern}'`;
    case 'minimum': return `${where} must be greater than or equal to ${e.params.limit}`;
    case 'maximum': return `${where} must be less than or equal to ${e.params.limit}`;
    case 'uniqueItems': return `${where} items at ${e.params.j} and ${e.params.i} are equal`;
    case 'oneOf': case 'anyOf': return `${where} must match one of the allowed forms`;
    case 'minItems': return `${where} must have at least ${e.params.limit} items`;
    case 'minProperties': return `${where} must have at least ${e.params.limit} properties`;
    default: return `${where} ${e.message ?? `fails ${e.keyword}`}`;
  }
}

/** Validates one file's model; returns the most specific error, or undefined when it is valid. */
export function validateModel(model: unknown): { message: string; path: string[] } | undefined {
  const v = load();
  if (v(model)) return undefined;
  const errs = v.errors ?? [];
  if (!errs.length) return { message: '(root) is not valid', path: [] };
  let best = errs[0];
  for (const e of errs) if (specificity(e) > specificity(best)) best = e;
  const p = best.instancePath.split('/').slice(1);
  if (best.keyword === 'additionalProperties') p.push(String(best.params.additionalProperty));
  return { message: describe(best), path: p };
}
