// Where the plugin's routes live unless it is registered with another `prefix`: one definition for the
// server and the browser client (this module imports nothing, so it is safe in a browser bundle).

export const DEFAULT_PREFIX = '/api/dags'
