package io.spectro.sampling;

/**
 * What is measured at one draw of one chain, handed to every {@link DrawObserver}.
 *
 * @param component    index of the component (column of chi); -1 for the unrestricted full run
 * @param chain        chain index
 * @param draw         draw index within the chain
 * @param step         SGLD step after which the draw was taken
 * @param samplingLoss S: mean loss of the fixed sampling observables at the current weights
 * @param phi          S - L0 (L0 = sampling loss at w*)
 * @param probeLosses  per-token probe losses, flattened over probe chunks; null unless an observer
 *                     asked for them ({@link DrawObserver#wantsProbeLosses()}) — the estimator itself
 *                     accumulates them natively without copying
 */
public record Draw(int component, int chain, int draw, long step, double samplingLoss, double phi, float[] probeLosses) {}
