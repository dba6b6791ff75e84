// Every page is static: the oracle serves build/ and all data comes from its APIs at run time.
// Routes that cannot be prerendered (e.g. /provenance/<id>) fall back to the SPA shell.
export const prerender = true;
export const trailingSlash = 'never';
