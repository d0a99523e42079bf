/**
 * The one way commands load inquirer. Its colours are fixed when it is first loaded, from the
 * environment only (NO_COLOR, TERM), so --no-color and the user config's `"color": false` reach it
 * through NO_COLOR set before that load.
 */
import type { Output } from './output.js';

export async function loadPrompts(output: Output): Promise<typeof import('@inquirer/prompts')> {
  if (!output.color) process.env.NO_COLOR = '1';
  return import('@inquirer/prompts');
}
