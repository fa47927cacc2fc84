# Build a static controller binary, then ship it alone on a distroless nonroot base.
FROM golang:1.26 AS builder
WORKDIR /workspace
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o stepwise-controller ./cmd/manager

FROM gcr.io/distroless/static:nonroot
COPY --from=builder /workspace/stepwise-controller /stepwise-controller
USER 65532:65532
ENTRYPOINT ["/stepwise-controller"]
