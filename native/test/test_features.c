/*
 * test_features.c -- sp_forward_features of the CPU backend against the naive double reference of
 * ref_model.h (run by `make test`).
 *
 * Checks, and the tolerances (with their reasons):
 *  - every feature against the reference, |f - f_ref| <= 2e-5 + 2e-5 |f_ref|: fp32 sums over d, hd, V
 *    terms (V and the attention softmax sums in double) keep a few 1e-7 relative error per op and the
 *    norms go through L layers; the head norms go through a^T G a (G = Wd_h^T Wd_h in fp32) instead of
 *    the direct ||Wd_h a||. Measured worst case is printed ("max rel err") and is well below the bound;
 *  - losses_out bit-identical to sp_forward's, and the batch's losses usable by sp_accum_add after it;
 *  - bit-identical features for 1, 2 and 3 threads, with every loop split (sp_par_min_work = 0);
 *  - a batch with a residual cache gives the same features (the cache is not used);
 *  - the layout: F = sp_feature_count = 1 + 2L + 2L nh.
 */
#include "ref_model.h"

extern long sp_par_min_work; /* pool.h: loops below this work run on one thread (0: every loop split) */

static void test_against_reference(sp_config c, int B, int T, double scale, const char *name) {
    layout ly = make_layout(c);
    int L = c.n_layers, nh = c.n_heads;
    int64_t F = sp_feature_count(&c);
    CHECK(F == 1 + 2 * L + 2 * L * nh, "%s: feature count %lld", name, (long long)F);
    float *p = random_params(&ly, scale);
    double *wd = malloc(sizeof(double) * ly.P);
    for (int64_t i = 0; i < ly.P; i++) wd[i] = p[i];
    int32_t *tok = random_tokens(B * T, c.vocab_size);
    long nl = (long)B * (T - 1), nf = nl * F;
    double *fref = malloc(sizeof(double) * nf), *lref = malloc(sizeof(double) * nl);
    ref_forward_features(&ly, wd, tok, B, T, lref, fref);

    float *feat[3], *lf = malloc(4 * nl), *l0 = malloc(4 * nl);
    long min_work = sp_par_min_work;
    for (int k = 0; k < 3; k++) {
        sp_par_min_work = k == 0 ? min_work : 0;
        sp_model *m = new_model(c, k + 1, B * T, p, ly.P);
        sp_batch *b = NULL;
        OK(sp_batch_create(m, tok, B, T, &b));
        feat[k] = malloc(4 * nf);
        if (k == 2) OK(sp_batch_cache_at(m, b, 1));          /* the cache must not change anything */
        OK(sp_forward_features(m, b, feat[k], nf, k == 0 ? lf : NULL));
        if (k == 0) {
            sp_accum *a = NULL;                                 /* the batch holds the losses now */
            OK(sp_accum_create(m, nl, &a));
            OK(sp_accum_add(a, m, b, 1.0));
            sp_accum_destroy(a);
            double mean = 0;
            OK(sp_forward(m, b, l0, &mean));
            CHECK(memcmp(lf, l0, 4 * nl) == 0, "%s: losses of sp_forward_features bit-identical to sp_forward", name);
        }
        sp_batch_destroy(b);
        sp_model_destroy(m);
    }
    sp_par_min_work = min_work;
    CHECK(memcmp(feat[0], feat[1], 4 * nf) == 0 && memcmp(feat[0], feat[2], 4 * nf) == 0,
          "%s: features bit-identical for 1, 2, 3 threads, split loops and with a cache", name);

    double worst[5] = {0};
    const char *group[5] = {"entropy", "residual norm", "head norm", "mlp norm", "attention entropy"};
    int bad = 0;
    for (long i = 0; i < nl; i++) {
        CHECK(fabs(lf[i] - lref[i]) <= 2e-5 + 2e-5 * fabs(lref[i]), "%s: loss %ld %g vs %g", name, i, lf[i], lref[i]);
        for (int64_t k = 0; k < F; k++) {
            double r = fref[i * F + k], v = feat[0][i * F + k], err = fabs(v - r) / (1e-3 + fabs(r));
            int g = k == 0 ? 0 : k <= L ? 1 : k <= L + L * nh ? 2 : k <= 2 * L + L * nh ? 3 : 4;
            if (err > worst[g]) worst[g] = err;
            if (!(fabs(v - r) <= 2e-5 + 2e-5 * fabs(r)) && bad++ < 5)
                printf("FAIL %s: feature [%ld, %lld] (%s) = %.8g, reference %.8g\n", name, i, (long long)k, group[g], v, r);
        }
    }
    CHECK(bad == 0, "%s: %d features outside 2e-5 + 2e-5 |ref|", name, bad);
    printf("%s: max rel err entropy %.2g, residual %.2g, head %.2g, mlp %.2g, attention entropy %.2g\n", name,
           worst[0], worst[1], worst[2], worst[3], worst[4]);
    /* the features are not trivially zero: attention entropies at t > 0 and every norm are positive */
    int zero = 0;
    for (long i = 0; i < nl; i++)
        for (int64_t k = 0; k < 1 + L + L * nh + L; k++) zero += feat[0][i * F + k] <= 0.0f;
    CHECK(zero == 0, "%s: %d entropy/norm features <= 0", name, zero);
    for (int k = 0; k < 3; k++) free(feat[k]);
    free(lf); free(l0); free(fref); free(lref); free(tok); free(wd); free(p); free(ly.off);
}

int main(void) {
    sp_config small = {300, 32, 2, 4, 64, 4, 16, 10000.0f, 1e-5f};
    test_against_reference(small, 3, 9, 0.3, "small");
    test_against_reference(ODD, 2, 7, 0.3, "odd");       /* d = 12, hd = 4: every vector tail */
    sp_config wide = {500, 64, 1, 2, 128, 8, 40, 10000.0f, 1e-5f};
    test_against_reference(wide, 1, 33, 0.2, "wide");    /* hd = 32, T = 33: the 8-wide paths */
    printf("features: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
