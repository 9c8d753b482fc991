/* The modeller kit: bpmn-js's Modeler with a minimap, the token simulation and Chinese labels, bundled by
   scripts/assets.sh (esbuild) into webui/static/vendor/modeller-kit/ — never committed. The page script
   (modeller.js) finds it as window.BaozhuangModelerKit. */
import Modeler from "bpmn-js/lib/Modeler";
import MinimapModule from "diagram-js-minimap";
import TokenSimulationModule from "bpmn-js-token-simulation/lib/modeler";

import { TranslateModule, translate, translateSimulation } from "./modeller-zh.js";

import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import "bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css";
import "diagram-js-minimap/assets/diagram-js-minimap.css";
import "bpmn-js-token-simulation/assets/css/bpmn-js-token-simulation.css";

window.BaozhuangModelerKit = {
  Modeler: Modeler,
  modules: [TranslateModule, MinimapModule, TokenSimulationModule],
  translate: translate,
  translateSimulation: translateSimulation
};
