// aws4 ships no types; the bench only calls aws4.sign().
declare module "aws4" {
  const aws4: {
    sign(
      request: Record<string, any>,
      credentials: Record<string, string>,
    ): { headers?: Record<string, string>; path?: string };
  };
  export default aws4;
}
