// Every page is prerendered; the oracle serves build/ and all data comes from its APIs at run
// time. An execution opens as /provenance?execution_id=… (a query, not a route of its own).
// Paths with no page get the SPA shell, adapter-static's `fallback` file; as that is index.html,
// it replaces the prerendered home page in build/, so / renders client-side.
export const prerender = true;
export const trailingSlash = 'never';
