// The demo's mark on a screen: 「示範 DEMO」 and the demo clock's time (CONTRACT §8). Loaded only
// on the demo's pages; the hall display shows the mark beside its own clock instead.
import { demoMark, pageData, serverClock } from "./api.js";

const page = pageData();
demoMark(page, serverClock(page));
