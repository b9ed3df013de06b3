// s3-edge/node: the Node-only helpers (not part of the edge bundle).
export { writeFileAtomic } from "./atomic-write.ts";
export { downloadToFile } from "./download-to-file.ts";
export { nodeFetch } from "./fetch.ts";
export { NodeHeaders, NodeResponse } from "./web.ts";
