import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * `--baseline REF`: the gateway as it was at a git ref, checked out next to this one so both run
 * in one bench run (before/after measured in the same rounds; numbers from different runs or
 * days are not comparable on a shared VM). A detached `git worktree` in a temp directory, sharing
 * this tree's node_modules; removed afterwards, leaving the repository as it was.
 */
export interface BaselineTree {
  dir: string;
  ref: string;
  commit: string;
  remove(): Promise<void>;
}

const git = (root: string, ...args: string[]) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

export function baselineTree(root: string, ref: string): BaselineTree {
  let commit: string;
  try {
    commit = git(root, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`);
  } catch {
    throw new Error(`--baseline: "${ref}" is not a commit of this repository`);
  }
  const dir = join(mkdtempSync(join(tmpdir(), 'kaixu-baseline-')), 'tree');
  git(root, 'worktree', 'add', '--detach', dir, commit);
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  let removed = false;
  return {
    dir,
    ref,
    commit: commit.slice(0, 7),
    async remove() {
      if (removed) return;
      removed = true;
      try {
        git(root, 'worktree', 'remove', '--force', dir);
      } catch {
        rmSync(dir, { recursive: true, force: true });
        git(root, 'worktree', 'prune');
      }
      rmSync(join(dir, '..'), { recursive: true, force: true });
    },
  };
}
