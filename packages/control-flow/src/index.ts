/** @ckpt/control-flow (work in progress). */
export const PACKAGE_NAME = '@ckpt/control-flow';
