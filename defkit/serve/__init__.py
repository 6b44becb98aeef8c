"""`defkit serve`: a self-hosted build service speaking the Sylabs remote build protocol.

- `config`: the server's options and its token table;
- `uploads`: build contexts, received on one-time upload URLs;
- `images`: built images under library references, per owner (the Library API's view);
- `builds`: the build queue: each build a child process in its own process group;
- `worker`: what that child does (unpack the context safely, check the definition, build);
- `context_archive`, `policy`: the checks an uploaded context and a definition must pass;
- `app`: the HTTP and websocket endpoints (starlette), run by uvicorn.

Everything a client sees is owned by the token that made it; another token gets 404.
"""
