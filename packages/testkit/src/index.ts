/** @ckpt/testkit (work in progress). */
export const PACKAGE_NAME = '@ckpt/testkit';
