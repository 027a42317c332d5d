// The v1 contract lives in src/contract/schemas.ts, where the services and the
// clients can take it without depending on the HTTP layer. This re-export
// keeps the modules that still import it from here (app.ts, routes/events.ts)
// working; new code imports src/contract/schemas.ts.
export * from '../contract/schemas.ts';
