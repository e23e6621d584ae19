// The critical-finding banner of a clinic doctor's pages: when a notification arrives over the
// live connection (live.js), fetch the banner again, so a new critical finding shows at once
// without a reload. Without JavaScript the banner is still there at the next page load.
import {redrawn} from "../../telemed/js/redraw.js";

document.addEventListener("live:notify", () => redrawn(document.getElementById("critical-banner")));
