// `node build.mjs`: builds this app into dist/ (see ../shared/build-spa.mjs).
import { buildSpa } from '../shared/build-spa.mjs';

buildSpa(import.meta.dirname);
