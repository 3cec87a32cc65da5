/**
 * A small tmpfs for full-disk tests: writes fail with ENOSPC once it is full, as a real disk's do.
 * Mounting needs root (CI and this machine run tests as root); elsewhere the tests step aside.
 *
 * @module
 */

/**
 * Mounts a tmpfs of `kb` KiB at a new folder, or returns undefined where mounting is not allowed.
 *
 * @example
 * ```ts
 * const disk = await tinyDisk(256);
 * if (disk !== undefined) await unmountTinyDisk(disk);
 * ```
 */
export async function tinyDisk(kb: number): Promise<string | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "parley_full_" });
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${kb}k`, "tmpfs", dir],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => ({ success: false }));
  if (mount.success) return dir;
  await Deno.remove(dir);
  return undefined;
}

/** Writes `path` until its disk is full (the last write fails with ENOSPC). */
export async function fillDisk(path: string): Promise<void> {
  const filler = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(4096);
  try {
    while (true) await filler.write(chunk);
  } catch (error) {
    if (!/No space/i.test(String(error))) throw error;
  } finally {
    filler.close();
  }
}

/** Unmounts a {@linkcode tinyDisk} and removes its folder. */
export async function unmountTinyDisk(dir: string): Promise<void> {
  await new Deno.Command("umount", { args: [dir] }).output();
  await Deno.remove(dir, { recursive: true });
}

/** True where {@linkcode tinyDisk} can mount (checked once, with a 64 KiB disk). */
export const canMountTinyDisk: boolean = await (async () => {
  const dir = await tinyDisk(64);
  if (dir === undefined) return false;
  await unmountTinyDisk(dir);
  return true;
})();
