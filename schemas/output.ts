// The bound on a node's live output, shared by the snapshot schema and the reducer. A module of its own
// without imports, so that the browser-safe reducer can read it without loading TypeBox.

/** The most characters (UTF-16 code units) a node's `partial_output` holds, marker included. */
export const MAX_PARTIAL_OUTPUT_LENGTH = 32_768

/** Starts a `partial_output` whose oldest text was cut to stay within MAX_PARTIAL_OUTPUT_LENGTH. */
export const PARTIAL_OUTPUT_CUT_MARKER = '[…earlier output cut…]\n'
