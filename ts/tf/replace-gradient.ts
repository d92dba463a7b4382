/**
 * Swapping the gradient of a tfjs kernel on chosen backends only: everywhere else the gradient it
 * replaces keeps running.
 * @module
 */
import type * as TF from '@tensorflow/tfjs'

const replaced = new Set<string>()

/**
 * Re-register the gradient of `kernelName` so that on `backends` it is `gradFunc`, which may return
 * `null` to leave a call it does not handle to the built-in gradient; on other backends the built-in
 * gradient runs. Once per kernel; nothing happens when tfjs has no gradient for the kernel.
 * `inputsToSave` is used only when the built-in gradient does not say which inputs it saves.
 * @internal
 */
export function replaceGradient(
  tf: typeof TF,
  kernelName: string,
  backends: readonly string[],
  inputsToSave: string[],
  gradFunc: (...args: Parameters<TF.GradFunc>) => ReturnType<TF.GradFunc> | null,
): void {
  if (replaced.has(kernelName)) return
  const builtin = tf.getGradient(kernelName)
  if (builtin === undefined) return
  const on = new Set(backends)
  tf.registerGradient({
    kernelName,
    inputsToSave: builtin.inputsToSave ?? inputsToSave,
    gradFunc: (dy, saved, attrs) => (on.has(tf.getBackend()) ? gradFunc(dy, saved, attrs) : null) ?? builtin.gradFunc(dy, saved, attrs),
  })
  replaced.add(kernelName)
}
