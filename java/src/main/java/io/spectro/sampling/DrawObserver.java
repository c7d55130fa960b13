package io.spectro.sampling;

/**
 * Measures something at every draw (devinterp's callback pattern): per-draw, finish and result steps.
 *
 * @param <R> what the observer produces
 */
public interface DrawObserver<R> {
    /** Called after every draw of every chain of a run. */
    void onDraw(Draw draw);

    /** Called after chain {@code chain} of a run took its last draw (before the next chain starts). */
    default void chainDone(int chain) {}

    /** Called once after the last chain of a component finished. */
    default void finish() {}

    R result();

    /** True when the observer needs the per-token probe losses copied to the host at each draw. */
    default boolean wantsProbeLosses() {
        return false;
    }
}
