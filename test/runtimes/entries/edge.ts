// Vercel edge-runtime: a service-worker style script (EdgeRuntime evaluates a script, not a module);
// the scenario runs inside the fetch event, with the env in the request body.
import { scenario } from "../scenario.ts";

addEventListener("fetch", (event: any) => {
  event.respondWith(
    (async () =>
      new Response(JSON.stringify(await scenario(await event.request.json())), {
        headers: { "content-type": "application/json" },
      }))(),
  );
});
