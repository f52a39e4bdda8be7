// What the page knows: the opened model, the current input and its prediction; a tiny event hub.

export const state = {
  model: null,        // /api/model's description (layers, shapes, formulas), or null
  prediction: null,   // the last /api/predict answer for the current drawing
  drawing: false,     // a stroke is in progress
};

const handlers = {};

export function on(event, fn) { (handlers[event] = handlers[event] || []).push(fn); }

export function emit(event, data) { for (const fn of handlers[event] || []) fn(data); }
