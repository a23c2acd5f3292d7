// The report says how the inputs were normalized, and whether the statistics were
// fit on this run's data or taken from elsewhere (ImageNet's, the backbone's).
import Testing
import FrontEnd
@testable import Reporting

@Suite struct ReportContextNormalizationTests {
    func resolved(_ kind: String, per: String = "channel") -> SpecValue {
        .object([("normalization", .object([("kind", .string(kind)), ("per", .string(per))]))])
    }

    @Test func everyKindIsSaidInWords() {
        #expect(ReportContext.normalization(resolved("standardize"))
                == "standardized per channel with the mean and standard deviation of this run's training split")
        #expect(ReportContext.normalization(resolved("minmax", per: "global"))?.contains("over all channels") == true)
        #expect(ReportContext.normalization(resolved("checkpoint")) == "the statistics stored with the backbone's weights (not refit on this data)")
        #expect(ReportContext.normalization(resolved("imagenet"))?.hasPrefix("ImageNet's") == true)
        #expect(ReportContext.normalization(.object([])) == nil)
    }
}
