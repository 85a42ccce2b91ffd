// `npm run generate`, step one: gathers the watch service's .proto files and the google/api ones they
// import (the repository's own minimal definitions, in ../../../proto) into one folder under
// node_modules, which buf.gen.yaml takes as its input: buf resolves imports only inside its input.
import { cpSync, rmSync } from "node:fs";

const staged = "node_modules/.protos";
rmSync(staged, { recursive: true, force: true });
cpSync("../proto", staged, { recursive: true });
cpSync("../../../proto/google", `${staged}/google`, { recursive: true });
