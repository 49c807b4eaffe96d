/** @ckpt/file-transfer (work in progress). */
export const PACKAGE_NAME = '@ckpt/file-transfer';
