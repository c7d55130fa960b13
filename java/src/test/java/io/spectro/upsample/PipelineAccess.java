package io.spectro.upsample;

import io.spectro.structure.Pipeline;
import tools.jackson.databind.json.JsonMapper;

import java.nio.file.Path;

/** Reads a whitening stage's source.json in tests. */
final class PipelineAccess {
    private PipelineAccess() {}

    static Pipeline.Source source(Path file) {
        return JsonMapper.shared().readValue(file.toFile(), Pipeline.Source.class);
    }
}
