// The page's state: one object, imported by the modules that read or change it.
export const PAGE = 10; // maps per overview column page

export const state = {
  model: null, // GET /api/model
  run: null, // the last POST /api/run answer
  byId: {}, // layer id -> structure node
  acts: {}, // layer id -> activations of the run (the page of maps shown)
  sampleOffset: 0, // first test image of the sample strip
  selectedSample: null, // the test image run last, if the input is one
  expanded: {}, // block id -> open in the overview
  colBlocks: [], // per overview column: the open blocks around it, outermost first
  colRange: {}, // layer id -> colour range of its overview column
  sel: null, // the detail shown: { id, ch }
  timer: null, // the detail's player
  playground: { input: 5, kernel: 3, padding: '0', stride: 1, dilation: 1, mode: 'zeros', pos: 0, timer: null, res: null },
};
