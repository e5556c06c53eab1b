package v1alpha1

// Secrets are opt-in. cxops reads, caches and sends only the Secrets that carry
// the label SecretUsableByLabel with the value SecretUsableByValue:
//
//	kubectl label secret prom-token cx.cxops.io/usable-by=cxops
//
// A SignalSource or webhook sink that references a Secret without the label is
// refused with the reason ReasonSecretNotUsable and nothing of the Secret is read
// or sent. The label is the Secret owner's consent: a user who may create
// SignalSources, Moments or RoadmapStreams but may not read Secrets cannot make
// cxops send a Secret somewhere. Whoever may patch a Secret may label it, so grant
// patch and update on Secrets only to those who may read them.
const (
	// SecretUsableByLabel is the label key that opts a Secret in to cxops.
	SecretUsableByLabel = "cx.cxops.io/usable-by"
	// SecretUsableByValue is the value of SecretUsableByLabel that opts a Secret in.
	SecretUsableByValue = "cxops"
)
