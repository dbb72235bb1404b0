namespace Resilience.Http.Tests.Transparency;

/// <summary>A stream that can be read once and cannot seek, as a network stream.</summary>
internal sealed class OneShotStream(byte[] bytes) : MemoryStream(bytes)
{
    public override bool CanSeek => false;

    public override long Seek(long offset, SeekOrigin loc) => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override long Length => throw new NotSupportedException();
}
