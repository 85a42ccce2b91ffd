// `npm run generate`, step one: gathers the demo service's .proto files (the tests call the demo
// server) and the google/api ones they import (the repository's own minimal definitions) into one
// folder under node_modules, which buf.gen.yaml takes as its input.
import { cpSync, rmSync } from "node:fs";

const staged = "node_modules/.protos";
rmSync(staged, { recursive: true, force: true });
cpSync("../../examples/proto", staged, { recursive: true });
cpSync("../../proto/google", `${staged}/google`, { recursive: true });
