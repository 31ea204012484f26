#include "src/runtime/link_channel.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstring>

namespace pbft::runtime {

namespace {

constexpr char exporter_label[] = "EXPORTER-pbft-hello";
constexpr size_t binding_size = 32;

// The reason of the last OpenSSL error on this thread (and clears the queue).
std::string openssl_error(const std::string& what) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return what;
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return what + ": " + text;
}

// The other end's certificate is self-signed, so the chain check fails by
// design: what authenticates it is its key, which the connection compares
// with the cluster file, and the signed hello. The TLS handshake itself
// still checks that the other end holds the certificate's private key
// (CertificateVerify).
int accept_any_chain(int, X509_STORE_CTX*) { return 1; }

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};

class TlsChannel final : public Channel {
 public:
  explicit TlsChannel(SSL* ssl) : ssl_(ssl) {}
  ~TlsChannel() override { SSL_free(ssl_); }  // frees the BIOs too

  bool established() const override { return established_; }

  Result<bool> handshake() override {
    if (established_) return true;
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) {
      established_ = true;
      return true;
    }
    const int error = SSL_get_error(ssl_, r);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return false;
    return Status::error(openssl_error("TLS handshake failed"));
  }

  void feed(ByteView ciphertext) override {
    if (ciphertext.empty()) return;
    BIO_write(SSL_get_rbio(ssl_), ciphertext.data(), static_cast<int>(ciphertext.size()));
  }

  Result<size_t> read(uint8_t* out, size_t room) override {
    size_t total = 0;
    while (total < room) {
      ERR_clear_error();
      size_t got = 0;
      const int r = SSL_read_ex(ssl_, out + total, room - total, &got);
      if (r == 1) {
        total += got;
        continue;
      }
      const int error = SSL_get_error(ssl_, r);
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) break;
      if (error == SSL_ERROR_ZERO_RETURN) {
        if (total > 0) break;  // the close comes with the next read
        return Status::error("closed by peer (TLS close_notify)");
      }
      return Status::error(openssl_error("TLS record refused"));
    }
    return total;
  }

  Status write(ByteView plaintext) override {
    if (plaintext.empty()) return Status::ok();
    ERR_clear_error();
    size_t written = 0;
    // A memory BIO takes everything: the write is whole or fails.
    if (SSL_write_ex(ssl_, plaintext.data(), plaintext.size(), &written) != 1 ||
        written != plaintext.size()) {
      return Status::error(openssl_error("TLS write failed"));
    }
    return Status::ok();
  }

  Bytes take_output() override {
    BIO* wbio = SSL_get_wbio(ssl_);
    const size_t pending = BIO_ctrl_pending(wbio);
    Bytes out(pending);
    if (pending > 0) {
      const int got = BIO_read(wbio, out.data(), static_cast<int>(pending));
      out.resize(got > 0 ? static_cast<size_t>(got) : 0);
    }
    return out;
  }

  bool has_output() const override { return BIO_ctrl_pending(SSL_get_wbio(ssl_)) > 0; }

  Bytes binding() const override {
    Bytes out(binding_size);
    if (!established_ ||
        SSL_export_keying_material(ssl_, out.data(), out.size(), exporter_label,
                                   sizeof exporter_label - 1, nullptr, 0, 0) != 1) {
      return Bytes();
    }
    return out;
  }

  std::optional<PublicKey> peer_key() const override {
    std::unique_ptr<X509, X509Free> cert(SSL_get1_peer_certificate(ssl_));
    if (!cert) return std::nullopt;
    EVP_PKEY* key = X509_get0_pubkey(cert.get());  // owned by the certificate
    if (key == nullptr || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) return std::nullopt;
    PublicKey out{};
    size_t size = out.size();
    if (EVP_PKEY_get_raw_public_key(key, out.data(), &size) != 1 || size != out.size()) {
      return std::nullopt;
    }
    return out;
  }

 private:
  SSL* ssl_;
  bool established_ = false;
};

}  // namespace

Result<std::shared_ptr<TlsContext>> TlsContext::make(const SecretKey& secret_key,
                                                     const std::string& name) {
  // The Ed25519 seed is the first half of libsodium's secret key.
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, secret_key.data(), 32));
  if (!key) return Status::error(openssl_error("TLS: cannot load the Ed25519 key"));
  // A self-signed certificate for the key: TLS needs one to carry the key;
  // nobody checks its name, dates or issuer (the key is pinned).
  std::unique_ptr<X509, X509Free> cert(X509_new());
  if (!cert) return Status::error(openssl_error("TLS: X509_new"));
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600L * 24);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600L * 24 * 365 * 100);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  const std::string common_name = name.substr(0, 64);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), subject);
  if (X509_set_pubkey(cert.get(), key.get()) != 1 ||
      X509_sign(cert.get(), key.get(), nullptr) <= 0) {  // Ed25519 takes no digest
    return Status::error(openssl_error("TLS: cannot make the certificate"));
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  if (ctx == nullptr) return Status::error(openssl_error("TLS: SSL_CTX_new"));
  std::shared_ptr<TlsContext> out(new TlsContext());
  out->ctx_ = ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  // AES-128-GCM first: the cheapest with AES-NI, and as strong as needed.
  SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"
                                "TLS_AES_256_GCM_SHA384");
  // Links are long-lived and never resumed: no session tickets, no cache.
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  // Each end proves an Ed25519 key: the only signature scheme offered.
  if (SSL_CTX_set1_sigalgs_list(ctx, "ed25519") != 1 ||
      SSL_CTX_use_certificate(ctx, cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return Status::error(openssl_error("TLS: cannot set the certificate"));
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any_chain);
  return out;
}

TlsContext::~TlsContext() { SSL_CTX_free(static_cast<SSL_CTX*>(ctx_)); }

Result<std::unique_ptr<Channel>> Channel::tls(const TlsContext& context, bool accepting) {
  SSL* ssl = SSL_new(static_cast<SSL_CTX*>(context.native()));
  if (ssl == nullptr) return Status::error(openssl_error("TLS: SSL_new"));
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  if (rbio == nullptr || wbio == nullptr) {
    BIO_free(rbio);
    BIO_free(wbio);
    SSL_free(ssl);
    return Status::error("TLS: cannot make the memory BIOs");
  }
  // An empty read BIO means "more to come", not end of file.
  BIO_set_mem_eof_return(rbio, -1);
  BIO_set_mem_eof_return(wbio, -1);
  SSL_set_bio(ssl, rbio, wbio);
  if (accepting) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
  }
  return std::unique_ptr<Channel>(new TlsChannel(ssl));
}

}  // namespace pbft::runtime
