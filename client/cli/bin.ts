// The `tally` bin of the published package (built to dist/cli.js). In a checkout,
// `npm run tally` runs the same program from the sources (cli/tally.mjs, through tsx).
import './main';
