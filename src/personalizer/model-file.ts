/**
 * The file `GET /model` exports and `PUT /model` imports: the Personalizer model's learned state with the
 * strategy and learner it belongs to, so an export goes back into any Focal (this one after a reset, or another).
 *
 *   "FOCALMODEL" (10 bytes) · format version (1 byte) · header length (4 bytes, big-endian) · header (UTF-8 JSON:
 *   { config: { strategy, learner }, model, version, exportedAt, bytes, sha256 }) · state (the engine's snapshot)
 *
 * Personalizer's own export (a VW model in a signed zip) cannot be read by Focal's learners: importing one is a
 * 400 InvalidModelImportFormat that says to import the loop's logs instead (POST /models/{name}/log).
 */
import { createHash } from 'node:crypto';
import { createBanditModel, normalizeBanditConfig, type BanditConfig } from '../bandit/index.js';
import { PersonalizerError } from './errors.js';

const MAGIC = Buffer.from('FOCALMODEL', 'ascii');
const FORMAT = 1;
/** Largest model file read back: a linear learner at 24 hash bits (the most) snapshots to about 200 MB. */
export const MAX_MODEL_FILE_BYTES = 256 * 1024 * 1024;

export interface ModelFileHeader {
  config: BanditConfig;
  model: string;
  version: number;
  exportedAt: string;
  bytes: number;
  sha256: string;
}

export function writeModelFile(config: BanditConfig, model: string, version: number, state: Uint8Array): Buffer {
  const header: ModelFileHeader = {
    config, model, version, exportedAt: new Date().toISOString(), bytes: state.byteLength,
    sha256: createHash('sha256').update(state).digest('hex'),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(MAGIC.length + 5);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt8(FORMAT, MAGIC.length);
  prefix.writeUInt32BE(json.length, MAGIC.length + 1);
  return Buffer.concat([prefix, json, state]);
}

function invalid(message: string): PersonalizerError {
  return new PersonalizerError(400, 'InvalidModelImportFormat', message);
}

/** The configuration and state of a model file; every check (format, checksum, the engine reading the state) before anything changes. */
export function readModelFile(file: Buffer): { config: BanditConfig; state: Uint8Array; header: ModelFileHeader } {
  if (file.length < MAGIC.length + 5 || !file.subarray(0, MAGIC.length).equals(MAGIC)) {
    const zip = file[0] === 0x50 && file[1] === 0x4b;
    throw invalid(zip
      ? 'This is a Personalizer (Vowpal Wabbit) model archive, which Focal\'s learners cannot read: import the loop\'s exported logs instead (POST /models/{name}/log, DSJSON), which Focal learns from in order'
      : 'Not a model file exported by Focal (GET /model)');
  }
  const format = file.readUInt8(MAGIC.length);
  if (format !== FORMAT) throw invalid(`Model file format ${format} is not supported (this Focal reads format ${FORMAT})`);
  const length = file.readUInt32BE(MAGIC.length + 1);
  const start = MAGIC.length + 5;
  if (start + length > file.length) throw invalid('The model file is truncated (its header runs past the end)');
  let header: ModelFileHeader;
  try {
    header = JSON.parse(file.subarray(start, start + length).toString('utf8')) as ModelFileHeader;
  } catch {
    throw invalid('The model file\'s header is not valid JSON');
  }
  const state = file.subarray(start + length);
  if (typeof header !== 'object' || header === null || state.length !== header.bytes) throw invalid(`The model file is truncated or padded: ${state.length} bytes of state, the header says ${header?.bytes}`);
  if (createHash('sha256').update(state).digest('hex') !== header.sha256) throw invalid('The model file is corrupt: its state does not match its sha256');
  let config: BanditConfig;
  try {
    config = normalizeBanditConfig(header.config);
    // The engine reads the state back now, so a state that does not fit its configuration changes nothing.
    createBanditModel(config, new Uint8Array(state));
  } catch (err) {
    throw invalid(`The model file's configuration or state cannot be loaded: ${(err as Error).message}`);
  }
  return { config, state: new Uint8Array(state), header };
}
