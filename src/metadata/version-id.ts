// Version ids as clients see them: "null", or 14 hex digits (the inverted sequence of the state's
// version counter, so newer versions of a key sort first). Pure, for the gateway and the state
// machine alike.
export const NULL_VERSION = 'null';
export const VERSION_SEQ_MAX = Number.MAX_SAFE_INTEGER;
const VERSION_ID_CHARS = 14; // VERSION_SEQ_MAX in hex
const VERSION_ID = /^[0-9a-f]{14}$/;

export const versionIdOf = (inverted: number) =>
  inverted.toString(16).padStart(VERSION_ID_CHARS, '0');

// Whether a version id is one Strata could have issued.
export const isVersionId = (id: unknown): id is string =>
  typeof id === 'string' && (id === NULL_VERSION || VERSION_ID.test(id));

export const invertedOfId = (id: string) => Number.parseInt(id, 16);
