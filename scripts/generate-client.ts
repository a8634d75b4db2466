// npm run client:generate: writes Focal's OpenAPI document and the typed client's generated types
// (clients/typescript/openapi.json and src/schema.ts) from the app itself, built in-process.
import { writeFileSync } from 'node:fs';
import { CLIENT_FILES, clientFiles, servedOpenApi } from './client-schema.js';

const files = await clientFiles(await servedOpenApi());
writeFileSync(CLIENT_FILES.openapi, files.openapi);
writeFileSync(CLIENT_FILES.schema, files.schema);
console.log(`wrote ${CLIENT_FILES.openapi} and ${CLIENT_FILES.schema}`);
