// JsSIP as one ES module for the console (api/console/js/softphone.js imports it).
import JsSIP from "jssip";

export default JsSIP;
