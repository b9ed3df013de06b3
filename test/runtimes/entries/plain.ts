// Plain ESM (Node 18 / Node 20): the host imports this bundle and calls scenario(env).
export { scenario } from "../scenario.ts";
