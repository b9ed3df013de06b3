// Cloudflare Workers module worker (workerd): the scenario runs inside the fetch handler, with the
// S3 endpoint and credentials as bindings.
import { scenario, type ScenarioEnv } from "../scenario.ts";

export default {
  async fetch(_req: Request, env: ScenarioEnv): Promise<Response> {
    return new Response(JSON.stringify(await scenario(env)), { headers: { "content-type": "application/json" } });
  },
};
