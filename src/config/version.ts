// The version of this build: package.json's "version", the one k8s/scripts/
// build-push.sh tags the image with and the prod overlay deploys. esbuild
// inlines the JSON into dist/main.mjs, so the built server reads no file for it.
import pkg from '../../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
